"""The jax backend: the whole graph as one jitted JAX function (linker.py).

JAX is imported only inside this folder. Lowerings per op family live in the
modules named after the tensor/ families (elemwise.py, shape.py, scan.py, ...);
docs/jax.md is the user's page.
"""
