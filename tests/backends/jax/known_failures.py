"""Tests of the shared suites that the jax backend fails by design, with the reason.

backend_suite.py marks each as xfail (strict: a test that starts passing must leave
this list). Keys are test function names (every parametrisation) or full test ids.
"""

NUMPY_NUMBERS = ("checks the numbers of NumPy's generator; RandomStreams on jax draws with "
                 "JAX's generator (docs/jax.md, tested by distribution in "
                 "tests/backends/jax/test_jax_random.py)")

KNOWN = {
    "test_randomstreams_matches_theano_seeding": NUMPY_NUMBERS,
    "test_updates_gen_and_attributes": NUMPY_NUMBERS,
    "test_raw_functions_with_a_generator_and_explicit_updates": NUMPY_NUMBERS,
    "test_scalar_parameters_draw_the_numbers_of_broadcast_ones": NUMPY_NUMBERS,
}


def reason_for(node):
    """The reason `node` (a pytest item) fails on jax, or None."""
    return KNOWN.get(node.name) or KNOWN.get(getattr(node, "originalname", node.name))
