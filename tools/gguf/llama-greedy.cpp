// greedy token ids from a prompt of token ids with llama.cpp (CPU, one thread), for test fixtures; see
// test/fixtures/gguf/kquant/README.md for the build command. Usage: greedy MODEL N id...
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: greedy MODEL N id...\n"); return 2; }
    int n = atoi(argv[2]);
    std::vector<llama_token> prompt;
    for (int i = 3; i < argc; i++) prompt.push_back(atoi(argv[i]));
    llama_backend_init();
    auto mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    auto cp = llama_context_default_params();
    cp.n_ctx = 256; cp.n_batch = 256; cp.n_threads = 1; cp.n_threads_batch = 1;
    llama_context * ctx = llama_init_from_model(model, cp);
    auto sp = llama_sampler_chain_default_params();
    llama_sampler * smpl = llama_sampler_chain_init(sp);
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    llama_batch batch = llama_batch_get_one(prompt.data(), prompt.size());
    std::vector<llama_token> out;
    llama_token tok;
    for (int i = 0; i < n; i++) {
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        tok = llama_sampler_sample(smpl, ctx, -1);
        out.push_back(tok);
        batch = llama_batch_get_one(&tok, 1);
    }
    for (size_t i = 0; i < out.size(); i++) printf("%s%d", i ? "," : "", out[i]);
    printf("\n");
    llama_sampler_free(smpl); llama_free(ctx); llama_model_free(model);
    return 0;
}
