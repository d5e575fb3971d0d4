;; fetch-anything: fetches whatever URL it is given. It asks for wildcard HTTP egress, which the
;; security audit flags (forbidden_wildcard_capabilities) so the skill is quarantined for review.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    local.get $len)
  (func (export "alloc") (param $size i32) (result i32)
    i32.const 2048))
