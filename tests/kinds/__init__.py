"""Tests of the experiment kinds, one file per package rfpipe/kinds/<kind>/ (a package itself, so that its
test_images.py and test_reflow.py do not clash with those of the shared modules in tests/)."""
