//! Header maps: `proxy_{get,set}_header_map_pairs`, `proxy_get_header_map_size` and the
//! per-key get, add, replace and remove.

use wasmtime::{Linker, Result};

use crate::abi::{self, Status, deserialize_pairs, serialize_pairs};
use crate::state::{Pairs, VmData};

use super::maps::{Access, headers_modified, with_map};
use super::{C, ENV, R, copy_out, done, enter_forced, forced, read, read_string, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, t: i32, ptr_ptr: i32, len_ptr: i32| -> R {
            let name = "proxy_get_header_map_pairs";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            if t > abi::map::HTTP_CALL_RESPONSE_TRAILERS {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            }
            // Envoy returns an empty map (size 0) when the map is not available.
            let pairs = with_map(c.data_mut(), t, Access::Read, |m| m.clone()).unwrap_or_default();
            let bytes = serialize_pairs(&pairs);
            let st = copy_out(&mut c, &bytes, ptr_ptr, len_ptr)?;
            done(&c, name, format!("type={t} pairs={}", pairs.len()), st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, t: i32, ptr: i32, len: i32| -> R {
            let name = "proxy_set_header_map_pairs";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let bytes = tri!(&c, name, format!("type={t}"), read(&c, ptr, len));
            if t > abi::map::HTTP_CALL_RESPONSE_TRAILERS {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            }
            // cpp-host `PairsUtil::toPairs`: malformed or over-limit input reads as no pairs.
            let pairs = deserialize_pairs(&bytes).unwrap_or_default();
            let lowered: Pairs = pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let detail = format!("type={t} {lowered:?}");
            write_map(&mut c, name, t, detail, |m| *m = lowered)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_header_map_size",
        |mut c: C<'_>, t: i32, ptr: i32| -> R {
            let name = "proxy_get_header_map_size";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            // Envoy `byteSize()`: the sum of key and value lengths.
            let size = with_map(c.data_mut(), t, Access::Write, |m| {
                m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            });
            let Some(size) = size else {
                return done(&c, name, format!("type={t}"), Status::BadArgument);
            };
            tri!(&c, name, String::new(), write_u32(&mut c, ptr, size as u32));
            done(&c, name, format!("type={t} size={size}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_get_header_map_value";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let detail = format!("type={t} key={key}");
            let log_phase = {
                let d = c.data();
                d.http.get(&d.active).is_some_and(|s| s.log_phase)
            };
            let found = with_map(c.data_mut(), t, Access::Read, |m| {
                m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
            });
            match found {
                // Map not available: NOT_FOUND in the access-log phase, else BAD_ARGUMENT.
                None if log_phase => done(&c, name, detail, Status::NotFound),
                None => done(&c, name, detail, Status::BadArgument),
                Some(None) => done(&c, name, detail, Status::NotFound),
                Some(Some(v)) => {
                    let st = copy_out(&mut c, &crate::abi::value_bytes(&v), vpp, vlp)?;
                    done(&c, name, format!("{detail} value={v}"), st)
                }
            }
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_add_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_add_header_map_value";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let value = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let detail = format!("type={t} {key}: {value}");
            write_map(&mut c, name, t, detail, |m| m.push((key, value)))
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_replace_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_replace_header_map_value";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let value = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let detail = format!("type={t} {key}: {value}");
            // Envoy `setCopy`: the first entry takes the value, later duplicates go; absent adds.
            write_map(&mut c, name, t, detail, |m| {
                match m.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        m[i].1 = value;
                        let mut seen = 0;
                        m.retain(|(k, _)| {
                            if *k == key {
                                seen += 1;
                                seen == 1
                            } else {
                                true
                            }
                        });
                    }
                    None => m.push((key, value)),
                }
            })
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_remove_header_map_value",
        |mut c: C<'_>, t: i32, kp: i32, kl: i32| -> R {
            let name = "proxy_remove_header_map_value";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let t = t as u32;
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl)).to_ascii_lowercase();
            let detail = format!("type={t} key={key}");
            // Removing an absent key is OK.
            write_map(&mut c, name, t, detail, |m| m.retain(|(k, _)| *k != key))
        },
    )?;
    Ok(())
}

/// Applies `f` to a header map the active callback may write, then records the mutation
/// (Envoy `onHeadersModified`). A map that is not writable now is BAD_ARGUMENT.
fn write_map(
    c: &mut C<'_>,
    name: &'static str,
    map_type: u32,
    detail: String,
    f: impl FnOnce(&mut Pairs),
) -> R {
    if with_map(c.data_mut(), map_type, Access::Write, f).is_none() {
        return done(c, name, detail, Status::BadArgument);
    }
    headers_modified(c, map_type);
    done(c, name, detail, Status::Ok)
}
