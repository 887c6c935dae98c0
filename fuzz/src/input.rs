//! Splitting a fuzzer's bytes into the fields of a request.

/// The fields of one input: the bytes split on NUL, each read as UTF-8 (lossily, so every
/// input is usable); missing fields are empty.
#[derive(Debug)]
pub struct Fields {
    parts: Vec<String>,
}

impl Fields {
    /// Splits `data` on NUL bytes.
    pub fn new(data: &[u8]) -> Self {
        Fields {
            parts: data
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
        }
    }

    /// Field `i`, empty when the input has fewer.
    pub fn get(&self, i: usize) -> &str {
        self.parts.get(i).map_or("", String::as_str)
    }

    /// Field `i` as a port, written in decimal (0 when it is not one).
    pub fn port(&self, i: usize) -> u16 {
        self.get(i).parse().unwrap_or(0)
    }

    /// Header pairs from field `from` on, as `name`, `value`, `name`, `value`, …
    pub fn headers(&self, from: usize) -> Vec<(String, String)> {
        self.parts
            .iter()
            .skip(from)
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|kv| {
                (
                    kv[0].to_ascii_lowercase(),
                    kv.get(1).map_or(String::new(), |v| (*v).clone()),
                )
            })
            .collect()
    }
}
