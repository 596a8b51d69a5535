//! Relations between matches: does one cover another, can two ever both match.
