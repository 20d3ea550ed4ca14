"""Tests of the shared suites that the jax backend fails by design, with the reason.

backend_suite.py marks each as xfail (strict: a test that starts passing must leave
this list). Keys are test function names (every parametrisation) or full test ids.
"""

NUMPY_NUMBERS = ("checks the numbers of NumPy's generator; RandomStreams on jax draws with "
                 "JAX's generator (docs/jax.md, tested by distribution in "
                 "tests/backends/jax/test_jax_random.py)")

DEVICE_STORAGE = ("checks that a borrowed value is the function's internal storage; on jax the "
                  "storage is a device array and get_value(borrow=True) / Out(borrow=True) "
                  "give host views of it (docs/jax.md)")

KNOWN = {
    "test_out_borrow_true_may_return_internal_storage": DEVICE_STORAGE,
    "test_update_with_constant_value_of_unread_shared": DEVICE_STORAGE,
    "test_update_copying_another_shared_does_not_alias_it": DEVICE_STORAGE,
    "test_mode_excluding_and_including_return_modes": (
        "checks the default mode's backend, which the jax run of the suite sets to JAX"),
    "test_randomstreams_matches_theano_seeding": NUMPY_NUMBERS,
    "test_updates_gen_and_attributes": NUMPY_NUMBERS,
    "test_raw_functions_with_a_generator_and_explicit_updates": NUMPY_NUMBERS,
    "test_scalar_parameters_draw_the_numbers_of_broadcast_ones": NUMPY_NUMBERS,
}


def reason_for(node):
    """The reason `node` (a pytest item) fails on jax, or None."""
    return KNOWN.get(node.name) or KNOWN.get(getattr(node, "originalname", node.name))
