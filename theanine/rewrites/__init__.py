"""Graph rewrites, one module per topic; pipeline.py lists, per mode, the rule sets and
passes in the order they run (see README.md in this folder).

How the engine sees ops is stated beside the ops: Elemwise nodes dispatch on their
scalar op (a rule registered for ``(Elemwise, Add)`` is tried only on additions) and
additions, products, max and min merge whatever the order of their inputs
(theanine/tensor/elemwise.py).
"""
