;; Mandelbrot escape-time kernel, compiled to kernel.wasm by `npm run build:examples` (examples/build-wasm.ts).
;;
;; row(cy, x0, dx, width, maxIter) computes one row of the image: for column i in
;; [0, width) the point c = (x0 + i*dx) + cy*i iterates z <- z*z + c from z = 0, and the
;; number of iterations before |z|^2 > 4 (at most maxIter) is stored as an i32 at byte
;; offset 4*i of the exported memory (little-endian, as all wasm memory). A count equal
;; to maxIter means the point never escaped.
;;
;; Only f64 add, sub, mul and comparisons are used: WebAssembly specifies these as IEEE 754
;; round-to-nearest operations and never fuses a multiply and an add, so every engine gives
;; the same counts bit for bit. Per iteration, in this order:
;;   x2 = zx*zx; y2 = zy*zy; if x2 + y2 > 4: stop
;;   zy = (2*zx)*zy + cy; zx = (x2 - y2) + cx; n = n + 1
;;
;; One 64 KiB page holds 16384 counts; the caller keeps width within that.

(module
  (memory (export "memory") 1)

  (func (export "row")
    (param $cy f64) (param $x0 f64) (param $dx f64) (param $width i32) (param $maxIter i32)
    (local $i i32) (local $n i32)
    (local $cx f64) (local $zx f64) (local $zy f64) (local $x2 f64) (local $y2 f64)

    (block $row_done
      (loop $columns
        (br_if $row_done (i32.ge_s (local.get $i) (local.get $width)))

        ;; cx = x0 + i*dx
        (local.set $cx
          (f64.add (local.get $x0)
                   (f64.mul (f64.convert_i32_s (local.get $i)) (local.get $dx))))
        (local.set $zx (f64.const 0))
        (local.set $zy (f64.const 0))
        (local.set $n (i32.const 0))

        (block $escaped
          (loop $iterate
            (br_if $escaped (i32.ge_s (local.get $n) (local.get $maxIter)))
            (local.set $x2 (f64.mul (local.get $zx) (local.get $zx)))
            (local.set $y2 (f64.mul (local.get $zy) (local.get $zy)))
            (br_if $escaped (f64.gt (f64.add (local.get $x2) (local.get $y2)) (f64.const 4)))
            (local.set $zy
              (f64.add (f64.mul (f64.mul (f64.const 2) (local.get $zx)) (local.get $zy))
                       (local.get $cy)))
            (local.set $zx
              (f64.add (f64.sub (local.get $x2) (local.get $y2)) (local.get $cx)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $iterate)))

        (i32.store (i32.shl (local.get $i) (i32.const 2)) (local.get $n))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $columns))))
)
