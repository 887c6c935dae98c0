//! Guest linear memory: reading arguments, writing results, and cpp-host's
//! `copyToPointerSize` allocation through the guest's allocator.

use wasmtime::{Result, format_err};

use crate::abi::Status;

use super::C;

/// Copies `len` bytes at `ptr` out of guest memory. The range is checked against the memory's
/// size before anything is allocated, as cpp-host's `getMemory` does: a guest passing a huge
/// length gets `InvalidMemoryAccess`, never a host allocation of that size.
pub(crate) fn read(c: &C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let range = guest_range(mem.data_size(c), ptr, len).ok_or(Status::InvalidMemoryAccess)?;
    mem.data(c)
        .get(range)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// The byte range `[ptr, ptr + len)` of a guest memory of `memory_size` bytes, if it lies
/// inside (pointers and lengths are the guest's unsigned 32-bit words).
pub(crate) fn guest_range(
    memory_size: usize,
    ptr: i32,
    len: i32,
) -> Option<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize)?;
    (end <= memory_size).then_some(start..end)
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

#[cfg(test)]
mod tests {
    use super::guest_range;

    /// A range is checked before anything is allocated: past the end, wrapping, or huge
    /// lengths are refused; the last byte and empty ranges are fine.
    #[test]
    fn guest_ranges_are_bounds_checked() {
        let size = 64 * 1024;
        assert_eq!(guest_range(size, 0, 16), Some(0..16));
        assert_eq!(guest_range(size, 65535, 1), Some(65535..65536));
        assert_eq!(guest_range(size, 65536, 0), Some(65536..65536));
        assert_eq!(guest_range(size, 65535, 2), None);
        assert_eq!(guest_range(size, 16, -1), None, "a 4 GiB length");
        assert_eq!(
            guest_range(size, -16, 32),
            None,
            "a pointer near the top wraps"
        );
        assert_eq!(guest_range(size, i32::MIN, i32::MAX), None);
    }
}
