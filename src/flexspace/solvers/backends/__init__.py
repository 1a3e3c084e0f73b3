"""The built-in solver backends, one module per solver (its spec, version probe, solve
routine and status mapping).  They are listed once, in :mod:`flexspace.solvers.registry`;
a user's backend needs no module here (:func:`flexspace.solvers.register_backend`, or
pass the backend object as ``solver=``)."""
