"""Technical and organisational measures (Art. 28(3)(c), Art. 32): versioned
records maintained by staff, the annex of measures of every DPA drafted after
them, and notices to controllers when a measure is lowered or removed."""
