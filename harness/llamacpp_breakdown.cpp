// The exact bytes of llama.cpp's buffers, per buffer type, for harness/llamacpp_buffers.py.
//
// llama.cpp prints its buffer sizes in MiB with two decimals; the exact figures are what its
// llama_get_memory_breakdown() returns (declared in src/llama-ext.h, a C++ function returning a
// std::map, so ctypes cannot call it directly). This shim, built against the libllama that
// llama-cpp-python installed, copies that map into plain arrays. The declarations below restate
// the shape of llama-ext.h's llama_memory_breakdown_data (three size_t: model, context, compute);
// a mismatch in the function's signature fails at load time (an undefined symbol).
#include <cstddef>
#include <cstring>
#include <map>

struct ggml_backend_buffer_type;
typedef struct ggml_backend_buffer_type * ggml_backend_buffer_type_t;
struct llama_context;

struct llama_memory_breakdown_data {
    size_t model   = 0;
    size_t context = 0;
    size_t compute = 0;
};

std::map<ggml_backend_buffer_type_t, llama_memory_breakdown_data> llama_get_memory_breakdown(const struct llama_context * ctx);
extern "C" const char * ggml_backend_buft_name(ggml_backend_buffer_type_t buft);

// Writes at most `max` entries: the buffer type's name (NUL-terminated, `name_len` bytes per
// entry) and model, context, compute bytes (3 size_t per entry). Returns the number of entries
// the map has (more than `max` means some were left out).
extern "C" int vr_memory_breakdown(const struct llama_context * ctx, int max, char * names, int name_len, size_t * sizes) {
    const auto mb = llama_get_memory_breakdown(ctx);
    int i = 0;
    for (const auto & [buft, data] : mb) {
        if (i < max) {
            std::strncpy(names + (size_t) i * name_len, ggml_backend_buft_name(buft), name_len - 1);
            names[(size_t) i * name_len + name_len - 1] = '\0';
            sizes[3 * i + 0] = data.model;
            sizes[3 * i + 1] = data.context;
            sizes[3 * i + 2] = data.compute;
        }
        i++;
    }
    return i;
}
