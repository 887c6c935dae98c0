//! Guest linear memory: reading arguments, writing results, and cpp-host's
//! `copyToPointerSize` allocation through the guest's allocator.

use wasmtime::{Result, format_err};

use crate::abi::Status;

use super::C;

pub(crate) fn read(c: &C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let mut buf = vec![0u8; len as u32 as usize];
    mem.read(c, ptr as u32 as usize, &mut buf)
        .map_err(|_| Status::InvalidMemoryAccess)?;
    Ok(buf)
}

pub(crate) fn read_string(c: &C<'_>, ptr: i32, len: i32) -> Result<String, Status> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

pub(crate) fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    mem.write(c, ptr as u32 as usize, bytes)
        .map_err(|_| Status::InvalidMemoryAccess)
}

pub(crate) fn write_u32(c: &mut C<'_>, ptr: i32, v: u32) -> Result<(), Status> {
    write(c, ptr, &v.to_le_bytes())
}

pub(crate) fn write_u64(c: &mut C<'_>, ptr: i32, v: u64) -> Result<(), Status> {
    write(c, ptr, &v.to_le_bytes())
}

/// cpp-host `copyToPointerSize`: allocates guest memory through `proxy_on_memory_allocate`
/// (or `malloc`), copies, writes pointer and size. Empty data writes (0, 0).
pub(crate) fn copy_out(c: &mut C<'_>, bytes: &[u8], ptr_ptr: i32, len_ptr: i32) -> Result<Status> {
    let mut ptr = 0u32;
    if !bytes.is_empty() {
        let alloc = c
            .get_export("proxy_on_memory_allocate")
            .or_else(|| c.get_export("malloc"))
            .and_then(|e| e.into_func())
            .ok_or_else(|| {
                format_err!("module exports neither proxy_on_memory_allocate nor malloc")
            })?;
        let alloc = alloc.typed::<i32, i32>(&*c)?;
        ptr = alloc.call(&mut *c, bytes.len() as i32)? as u32;
        if ptr == 0 {
            return Ok(Status::InvalidMemoryAccess);
        }
        if let Err(s) = write(c, ptr as i32, bytes) {
            return Ok(s);
        }
    }
    if let Err(s) =
        write_u32(c, ptr_ptr, ptr).and_then(|_| write_u32(c, len_ptr, bytes.len() as u32))
    {
        return Ok(s);
    }
    Ok(Status::Ok)
}
