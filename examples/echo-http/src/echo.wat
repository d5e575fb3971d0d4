;; echo-http: the smallest useful skill module. `run` takes a pointer/length into linear memory
;; and returns the same length: the host reads the input back as the tool's output.
(module
  (memory (export "memory") 1)
  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    local.get $len)
  (func (export "alloc") (param $size i32) (result i32)
    i32.const 1024))
