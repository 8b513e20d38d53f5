// ggml's Q8_K activation quantization (quantize_row_q8_K_ref, exported by libggml-base) of the
// f32 values in FILE (a multiple of 256), written to stdout: the expected bytes of
// test/fixtures/gguf/kquant/q8k-ggml.bin. See that directory's README for the build command.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// ggml/src/ggml-quants.h (not installed): block_q8_K is { float d; int8_t qs[256]; int16_t bsums[16]; }, 292 bytes
void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);

int main(int argc, char ** argv) {
    if (argc != 2) { fprintf(stderr, "usage: ggml-q8k FILE.f32 > out.bin\n"); return 2; }
    FILE * f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (bytes <= 0 || bytes % (256 * 4) != 0) { fprintf(stderr, "%s: %ld bytes, not a multiple of 256 f32\n", argv[1], bytes); return 1; }
    int64_t n = bytes / 4;
    float * x = malloc(bytes);
    if (fread(x, 4, n, f) != (size_t) n) { fprintf(stderr, "short read\n"); return 1; }
    void * y = malloc(n / 256 * 292);
    quantize_row_q8_K_ref(x, y, n);
    fwrite(y, 292, n / 256, stdout);
    return 0;
}
