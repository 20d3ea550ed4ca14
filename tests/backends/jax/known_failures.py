"""The shared suites' tests that need care on the jax backend.

KNOWN: tests the jax backend fails by design, with the reason. backend_suite.py marks
each as xfail (strict: a test that starts passing must leave this list). Keys are test
function names (every parametrisation) or full test ids.

SLOW: tests whose jax runs take over ~3 CPU-seconds (measured on the 2-core machine:
each compiles many small XLA programs), marked slow on jax only by tests/conftest.py,
so that the default run (-m "not slow") stays short; CI runs them. Keys are
"path::function" (every parametrisation on jax).
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


_MANY_PROGRAMS = "one XLA compile per dtype pair / shape / example"
SLOW = {
    "tests/tensor/test_math.py::test_binary_dtype_table": _MANY_PROGRAMS,
    "tests/tensor/test_subtensor.py::test_mixed_indices_hypothesis": _MANY_PROGRAMS,
    "tests/tensor/test_elemwise.py::test_broadcast_grad_hypothesis": _MANY_PROGRAMS,
    "tests/tensor/test_elemwise.py::test_broadcasting_hypothesis": _MANY_PROGRAMS,
    "tests/tensor/test_random.py::test_moments": "large draws, one program per distribution",
    "tests/tensor/test_random.py::test_permutation_and_choice_without_replacement":
        "one program per distribution and size",
    "tests/tensor/test_slinalg.py::test_expm_gradient": "expm's gradient graph",
    "tests/tensor/test_slinalg.py::test_second_order_gradients": "second-order graphs",
    "tests/tensor/test_slinalg.py::test_cholesky_gradient": "verify_grad's many programs",
    "tests/tensor/test_nlinalg.py::test_second_order_gradients": "second-order graphs",
    "tests/tensor/test_conv.py::test_second_order_gradients": "second-order graphs",
    "tests/tensor/test_pool.py::test_second_order_average": "second-order graphs",
    "tests/tensor/nnet/test_nnet_misc.py::test_h_softmax_gradient": "verify_grad's programs",
    "tests/tensor/test_extra_ops_more.py::test_fill_diagonal_offset_and_errors": _MANY_PROGRAMS,
    "tests/scan/test_scan_random.py::test_loop_invariant_draws_move_out_of_the_loop":
        "a loop and its gradient per distribution",
}


def slow_reason(nodeid):
    """Why the test `nodeid` (a jax run) is slow, or None."""
    return SLOW.get(nodeid.split("[", 1)[0])


def reason_for(node):
    """The reason `node` (a pytest item) fails on jax, or None."""
    return KNOWN.get(node.name) or KNOWN.get(getattr(node, "originalname", node.name))
