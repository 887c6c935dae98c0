//! `portcullis up`: a local gateway.
