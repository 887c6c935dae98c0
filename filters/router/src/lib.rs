//! VirtualService router: host filtering and route selection in one pass.
