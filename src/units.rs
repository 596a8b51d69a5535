//! Rates and sizes: parsing tc's unit spellings and formatting values back the way tc reads them.
