//! Gateway host filter: refuses hosts no Gateway server lists.
