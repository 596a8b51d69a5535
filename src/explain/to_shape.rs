//! Writing a plan back as an idiomatic `.shape` file.
