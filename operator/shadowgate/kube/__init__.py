"""Small Kubernetes I/O helpers behind Protocols: ConfigMaps, Deployments, Services, Events,
custom objects. The controller and traffic providers depend on the Protocols in ``base``; the
``client`` module implements them with the official ``kubernetes`` client, and unit tests use
plain in-memory fakes."""
