"""Digamma, trigamma, the Hurwitz zeta function, pi, sin and cos to 50 digits
(decimal), as a reference for the numba kernels in
theanine/backends/numba/kernels/special.py.

Euler-Maclaurin summation: sum the first N terms directly, then the integral of
the tail and its Bernoulli corrections. With N = 40 the correction terms fall by
about (2 pi (a + N))^-2 each, so 25 of them are far below 1e-50 for every
argument used here (a >= 0.5, s <= 60).
"""

from __future__ import annotations

import decimal
import functools
from fractions import Fraction

D = decimal.Decimal
CONTEXT = decimal.Context(prec=60)
N_TERMS = 40
N_BERNOULLI = 25


@functools.cache
def bernoulli_even():
    """[B_2, B_4, ..., B_2J] as Fractions (Akiyama-Tanigawa)."""
    m = 2 * N_BERNOULLI
    a = [Fraction(0)] * (m + 1)
    out = []
    for i in range(m + 1):
        a[i] = Fraction(1, i + 1)
        for j in range(i, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        if i >= 2 and i % 2 == 0:
            out.append(a[0])
    return out


def _dec(q):
    return CONTEXT.divide(D(q.numerator), D(q.denominator))


def hurwitz_zeta(s, a):
    """sum_k (a + k)^-s for an integer s >= 2 and a Decimal a > 0."""
    with decimal.localcontext(CONTEXT):
        a = D(a)
        total = sum((1 / (a + k) ** s for k in range(N_TERMS)), D(0))
        y = a + N_TERMS
        total += y ** (1 - s) / (s - 1) + y ** (-s) / 2
        rising = D(s)  # s (s + 1) ... (s + 2j - 2)
        fact = D(2)  # (2j)!
        for j, b in enumerate(bernoulli_even(), start=1):
            total += _dec(b) / fact * rising / y ** (s + 2 * j - 1)
            rising *= (s + 2 * j - 1) * (s + 2 * j)
            fact *= (2 * j + 1) * (2 * j + 2)
        return total


def digamma(a):
    """psi(a) for a Decimal a > 0."""
    with decimal.localcontext(CONTEXT):
        a = D(a)
        y = a + N_TERMS
        total = y.ln() - 1 / (2 * y) - sum((1 / (a + k) for k in range(N_TERMS)), D(0))
        for j, b in enumerate(bernoulli_even(), start=1):
            total -= _dec(b) / (2 * j) / y ** (2 * j)
        return total


@functools.cache
def digamma_root():
    """The positive zero of psi, 1.4616321449683623..., to 50 digits (Newton)."""
    with decimal.localcontext(CONTEXT):
        x = D("1.4616321449683623")
        for _ in range(6):
            x -= digamma(x) / hurwitz_zeta(2, x)
        return x


def psi_taylor_coefficients(n):
    """c_1..c_n with psi(x0 + h) = sum c_k h^k: c_k = (-1)^(k+1) zeta(k + 1, x0)."""
    x0 = digamma_root()
    return [(-1) ** (k + 1) * hurwitz_zeta(k + 1, x0) for k in range(1, n + 1)]


@functools.cache
def pi():
    """pi to 60 digits (Machin's formula)."""
    with decimal.localcontext(CONTEXT):
        def arctan_inv(n):
            x = D(1) / n
            total, term, k = x, x, 1
            while abs(term) > D(10) ** -65:
                term *= -x * x
                k += 2
                total += term / k
            return total

        return 4 * (4 * arctan_inv(5) - arctan_inv(239))


def _series(x, first, start):
    """sum_k (-1)^k x^(2k + start) / (2k + start)! from `first` = x^start / start!."""
    with decimal.localcontext(CONTEXT):
        total, term, k = first, first, start
        while abs(term) > D(10) ** -65:
            term *= -x * x / ((k + 1) * (k + 2))
            k += 2
            total += term
        return total


def sin(x):
    """sin(x) for a Decimal |x| <= pi."""
    return _series(D(x), D(x), 1)


def cos(x):
    """cos(x) for a Decimal |x| <= pi."""
    return _series(D(x), D(1), 0)


def lgamma(a):
    """log gamma(a) for a Decimal a > 0 (Stirling's series at a + N)."""
    with decimal.localcontext(CONTEXT):
        a = D(a)
        y = a + N_TERMS
        total = (y - D("0.5")) * y.ln() - y + (2 * pi()).ln() / 2
        for j, b in enumerate(bernoulli_even(), start=1):
            total += _dec(b) / (2 * j * (2 * j - 1)) / y ** (2 * j - 1)
        return total - sum(((a + k).ln() for k in range(N_TERMS)), D(0))


def erfc(x):
    """erfc(x) for a Decimal x >= 0: 1 - erf(x) by erf's Taylor series below 5 (its
    terms reach exp(25), 11 of the 60 digits), Laplace's continued fraction above."""
    with decimal.localcontext(CONTEXT):
        x = D(x)
        if x < 5:
            total, term, n = D(0), x, 0
            while abs(term) > D(10) ** -70:
                total += term / (2 * n + 1)
                n += 1
                term *= -x * x / n
            return 1 - 2 / pi().sqrt() * total
        f = x
        for k in range(300, 0, -1):
            f = x + D(k) / 2 / f
        return (-(x * x)).exp() / pi().sqrt() / f
