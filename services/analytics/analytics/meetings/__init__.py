"""Meeting attendance: invited, rang, answered, joined, confirmed, seconds, per unit and meeting."""
