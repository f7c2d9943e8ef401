"""Templates: rendered in a bounded sandbox (:mod:`.sandbox`), checked without running (:mod:`.lint`)."""
