//! Properties: `proxy_get_property`, `proxy_set_property` (the attribute model lives in
//! [`crate::properties`]).

use wasmtime::{Linker, Result};

use crate::abi::Status;
use crate::properties;
use crate::state::VmData;

use super::{C, ENV, R, copy_out, done, enter_forced, forced, read};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_get_property",
        |mut c: C<'_>, pp: i32, pl: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_get_property";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let path = tri!(&c, name, String::new(), read(&c, pp, pl));
            let key = properties::key_from_wire(&path);
            let detail = key.replace('\0', ".");
            let Some(value) = properties::lookup(c.data(), &key) else {
                return done(&c, name, detail, Status::NotFound);
            };
            let st = copy_out(&mut c, &value, vpp, vlp)?;
            done(&c, name, detail, st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_set_property",
        |mut c: C<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_set_property";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let path = tri!(&c, name, String::new(), read(&c, pp, pl));
            let value = tri!(&c, name, String::new(), read(&c, vp, vl));
            let key = properties::key_from_wire(&path);
            let detail = key.replace('\0', ".");
            if !properties::set(c.data_mut(), key, value) {
                return done(&c, name, detail, Status::NotFound);
            }
            done(&c, name, detail, Status::Ok)
        },
    )?;
    Ok(())
}
