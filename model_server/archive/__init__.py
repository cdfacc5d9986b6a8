"""Model archives: the ``MANIFEST.json`` format, opening an archive from a path or URI
(directory, ``.tar.gz`` or ``.zip``; local, ``file://`` or ``http(s)://``) with checksum
verification, and the builder behind ``model-server archive build``."""
