//! Base64 as Kubernetes writes it (Secret `data`, `directResponse.body.bytes`): the standard
//! alphabet with padding; line breaks that YAML block scalars leave in are ignored.

use base64::DecodeError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a base64 value could not be decoded. Offsets are byte offsets into the value as written
/// (whitespace included), so they point at the character in the YAML string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// A character outside the base64 alphabet, or padding (`=`) before the end.
    #[error("invalid base64: unexpected character {character:?} at offset {offset}")]
    InvalidCharacter {
        /// Byte offset in the value.
        offset: usize,
        /// The character.
        character: char,
    },
    /// The value ends in the middle of a group of four characters.
    #[error(
        "invalid base64: {symbols} characters (whitespace aside) do not make whole groups of four"
    )]
    InvalidLength {
        /// Base64 characters in the value (not counting whitespace or padding).
        symbols: usize,
    },
    /// The last character encodes bits beyond the data: the value is truncated or corrupt.
    #[error(
        "invalid base64: the last character {character:?} (offset {offset}) is not a valid ending"
    )]
    InvalidLastCharacter {
        /// Byte offset in the value.
        offset: usize,
        /// The character.
        character: char,
    },
    /// Padding (`=`) missing or malformed.
    #[error("invalid base64: missing or malformed padding")]
    InvalidPadding,
}

/// Encodes standard base64 with padding (the wire config's `bodyBase64`).
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64, ignoring ASCII whitespace.
pub(crate) fn decode(input: &str) -> Result<Vec<u8>, Base64Error> {
    let mut compact = String::with_capacity(input.len());
    // The offset in `input` of each byte of `compact`, to report errors where they are written.
    let mut offsets = Vec::with_capacity(input.len());
    for (i, c) in input.char_indices() {
        if !c.is_ascii_whitespace() {
            compact.push(c);
            offsets.extend((0..c.len_utf8()).map(|k| i + k));
        }
    }
    STANDARD.decode(&compact).map_err(|e| {
        let offset = |at: usize| offsets.get(at).copied().unwrap_or(input.len());
        let character = |at: usize| {
            input
                .get(offset(at)..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        };
        match e {
            DecodeError::InvalidByte(at, _) => Base64Error::InvalidCharacter {
                offset: offset(at),
                character: character(at),
            },
            DecodeError::InvalidLength(symbols) => Base64Error::InvalidLength { symbols },
            DecodeError::InvalidLastSymbol(at, _) => Base64Error::InvalidLastCharacter {
                offset: offset(at),
                character: character(at),
            },
            DecodeError::InvalidPadding => Base64Error::InvalidPadding,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_line_breaks() {
        assert_eq!(decode("aGVs\n  bG8=\n"), Ok(b"hello".to_vec()));
    }

    #[test]
    fn errors_point_into_the_value_as_written() {
        assert_eq!(
            decode("aGVs\n  b!8="),
            Err(Base64Error::InvalidCharacter {
                offset: 8,
                character: '!'
            })
        );
        assert_eq!(
            decode("aGVsé"),
            Err(Base64Error::InvalidCharacter {
                offset: 4,
                character: 'é'
            })
        );
        assert_eq!(
            decode("aGVsb"),
            Err(Base64Error::InvalidLength { symbols: 5 })
        );
        assert!(matches!(
            decode("aGVsbG9"),
            Err(Base64Error::InvalidPadding)
        ));
        assert!(matches!(
            decode("aGVsbH=="),
            Err(Base64Error::InvalidLastCharacter {
                offset: 5,
                character: 'H'
            })
        ));
    }
}
