//! Explaining an imported plan: plain words, JSON, DOT.
