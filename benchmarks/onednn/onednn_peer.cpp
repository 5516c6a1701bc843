// oneDNN peer of the ConvGen benchmark (benchmarks/ConvGen.Benchmarks). scripts/bench.sh builds it with
//   g++ -O2 -fopenmp onednn_peer.cpp -ldnnl -o onednn_peer
// and the C# harness runs it as a child process, like torch_peer.py: one JSON request per stdin line, one JSON reply
// per stdout line, so every oneDNN figure is measured right next to the matching ConvGen one while the harness waits.
// The first line written is {"ready": true, "onednn": "2.6.3", "isa": "avx2", ...}.
//
// Request (flat JSON, numbers and strings): {"op": "conv", "direction": "forward" | "backward_data" |
//   "backward_weights", "batch", "in", "h", "w", "out", "kernel", "stride", "pad", "groups", "threads", "warmup_s", "measure_s",
//   "min_samples"}
// Reply: {"times_ms": [...], "impl": "jit:avx2"} or {"error": "..."}
//
// Every primitive is created with format_tag::any, so oneDNN picks its preferred (blocked) layouts; the data are
// generated in plain NCHW/OIHW and reordered into those layouts once, outside the timed region. Forward is
// prop_kind::forward_inference with bias; backward_data and backward_weights (with the bias gradient) take a
// forward_training primitive descriptor as their hint, as oneDNN requires. The ISA is oneDNN's own choice, capped by
// the ONEDNN_MAX_CPU_ISA environment variable the harness sets per child (AVX2 for the primary peer). Threads:
// omp_set_num_threads per request (Debian's libdnnl2 is built with OpenMP).
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// The value after "key": in a flat JSON object (numbers only); throws when missing.
double num(const std::string& line, const char* key) {
    std::string k = std::string("\"") + key + "\"";
    size_t at = line.find(k);
    if (at == std::string::npos) throw std::runtime_error(std::string("missing key ") + key);
    at = line.find(':', at + k.size());
    if (at == std::string::npos) throw std::runtime_error(std::string("malformed value of ") + key);
    return std::strtod(line.c_str() + at + 1, nullptr);
}

std::string str(const std::string& line, const char* key) {
    std::string k = std::string("\"") + key + "\"";
    size_t at = line.find(k);
    if (at == std::string::npos) throw std::runtime_error(std::string("missing key ") + key);
    size_t open = line.find('"', line.find(':', at + k.size()) + 1);
    size_t close = line.find('"', open + 1);
    return line.substr(open + 1, close - open - 1);
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += (c == '\n' ? ' ' : c);
    }
    return out;
}

const char* isa_name(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::sse41: return "sse41";
        case cpu_isa::avx: return "avx";
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::avx2_vnni: return "avx2_vnni";
        case cpu_isa::avx512_core: return "avx512_core";
        case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
        case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
        case cpu_isa::avx512_core_amx: return "avx512_core_amx";
        default: return "other";
    }
}

struct Shape {
    memory::dim n, ic, h, w, oc, k, s, p, g;
    memory::dim oh() const { return (h + 2 * p - k) / s + 1; }
    memory::dim ow() const { return (w + 2 * p - k) / s + 1; }
    bool operator==(const Shape& o) const { return std::memcmp(this, &o, sizeof(Shape)) == 0; }
};

// One shape's primitives and memories, in oneDNN's chosen layouts, filled once.
struct Setup {
    Shape shape;
    int threads = 0;  // oneDNN primitives partition their work for the thread count at creation
    engine eng{engine::kind::cpu, 0};
    stream strm{eng};
    convolution_forward fwd;
    convolution_backward_data bwd_data;
    convolution_backward_weights bwd_weights;
    std::string fwd_impl, data_impl, weights_impl;
    memory src, wei, bias, dst;               // forward (inference layouts)
    memory bd_diff_dst, bd_wei, bd_diff_src;  // backward data layouts
    memory bw_src, bw_diff_dst, bw_diff_wei, bw_diff_bias;  // backward weights layouts

    // A memory in layout `md`, holding random values in [-1, 1] written in plain layout `plain` and reordered.
    memory filled(const memory::desc& md, const memory::dims& dims, tag plain, std::mt19937& rng) {
        memory::desc plain_md(dims, dt::f32, plain);
        memory plain_mem(plain_md, eng);
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        float* p = static_cast<float*>(plain_mem.get_data_handle());
        for (size_t i = 0, n = plain_md.get_size() / sizeof(float); i < n; i++) p[i] = u(rng);
        if (md == plain_md) return plain_mem;
        memory out(md, eng);
        reorder(plain_mem, out).execute(strm, plain_mem, out);
        strm.wait();
        return out;
    }

    explicit Setup(const Shape& s) : shape(s) {
        memory::dims src_d = {s.n, s.ic, s.h, s.w}, dst_d = {s.n, s.oc, s.oh(), s.ow()}, bias_d = {s.oc};
        memory::dims wei_d = s.g > 1 ? memory::dims{s.g, s.oc / s.g, s.ic / s.g, s.k, s.k} : memory::dims{s.oc, s.ic, s.k, s.k};
        tag wei_plain = s.g > 1 ? tag::goihw : tag::oihw;
        memory::dims strides = {s.s, s.s}, pad = {s.p, s.p};
        auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
        memory::desc bias_md(bias_d, dt::f32, tag::x);

        convolution_forward::primitive_desc fpd(
            convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, any(src_d), any(wei_d),
                                      bias_md, any(dst_d), strides, pad, pad),
            eng);
        convolution_forward::primitive_desc tpd(
            convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, any(src_d), any(wei_d),
                                      bias_md, any(dst_d), strides, pad, pad),
            eng);
        convolution_backward_data::primitive_desc dpd(
            convolution_backward_data::desc(algorithm::convolution_direct, any(src_d), any(wei_d), any(dst_d), strides, pad, pad),
            eng, tpd);
        convolution_backward_weights::primitive_desc wpd(
            convolution_backward_weights::desc(algorithm::convolution_direct, any(src_d), any(wei_d), bias_md, any(dst_d),
                                               strides, pad, pad),
            eng, tpd);
        fwd = convolution_forward(fpd);
        bwd_data = convolution_backward_data(dpd);
        bwd_weights = convolution_backward_weights(wpd);
        fwd_impl = fpd.impl_info_str();
        data_impl = dpd.impl_info_str();
        weights_impl = wpd.impl_info_str();

        std::mt19937 rng(0);
        src = filled(fpd.src_desc(), src_d, tag::nchw, rng);
        wei = filled(fpd.weights_desc(), wei_d, wei_plain, rng);
        bias = filled(bias_md, bias_d, tag::x, rng);
        dst = memory(fpd.dst_desc(), eng);
        bd_diff_dst = filled(dpd.diff_dst_desc(), dst_d, tag::nchw, rng);
        bd_wei = filled(dpd.weights_desc(), wei_d, wei_plain, rng);
        bd_diff_src = memory(dpd.diff_src_desc(), eng);
        bw_src = filled(wpd.src_desc(), src_d, tag::nchw, rng);
        bw_diff_dst = filled(wpd.diff_dst_desc(), dst_d, tag::nchw, rng);
        bw_diff_wei = memory(wpd.diff_weights_desc(), eng);
        bw_diff_bias = memory(wpd.diff_bias_desc(), eng);
    }

    void run(const std::string& op) {
        if (op == "forward")
            fwd.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
        else if (op == "backward_data")
            bwd_data.execute(strm, {{DNNL_ARG_DIFF_DST, bd_diff_dst}, {DNNL_ARG_WEIGHTS, bd_wei}, {DNNL_ARG_DIFF_SRC, bd_diff_src}});
        else if (op == "backward_weights")
            bwd_weights.execute(strm, {{DNNL_ARG_SRC, bw_src}, {DNNL_ARG_DIFF_DST, bw_diff_dst},
                                       {DNNL_ARG_DIFF_WEIGHTS, bw_diff_wei}, {DNNL_ARG_DIFF_BIAS, bw_diff_bias}});
        else
            throw std::runtime_error("unknown op " + op);
        strm.wait();
    }

    const std::string& impl(const std::string& op) const {
        return op == "forward" ? fwd_impl : op == "backward_data" ? data_impl : weights_impl;
    }
};

std::unique_ptr<Setup> g_setup;  // one shape at a time: keeps memory small

std::string measure(const std::string& line) {
    Shape s{(memory::dim)num(line, "batch"), (memory::dim)num(line, "in"), (memory::dim)num(line, "h"),
            (memory::dim)num(line, "w"), (memory::dim)num(line, "out"), (memory::dim)num(line, "kernel"),
            (memory::dim)num(line, "stride"), (memory::dim)num(line, "pad"), (memory::dim)num(line, "groups")};
    std::string op = str(line, "direction");
    int threads = (int)num(line, "threads");
    omp_set_num_threads(threads);
    // Primitives are created for the current thread count and keep splitting their work that way: a cached setup
    // from a 1-thread request would run a 2-thread request on one thread's partition.
    if (!g_setup || !(g_setup->shape == s) || g_setup->threads != threads) {
        g_setup.reset();
        g_setup = std::make_unique<Setup>(s);
        g_setup->threads = threads;
    }
    Setup& setup = *g_setup;
    using clock = std::chrono::steady_clock;
    auto seconds = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
    double warmup = num(line, "warmup_s"), budget = num(line, "measure_s");
    int min_samples = (int)num(line, "min_samples");
    auto warm_end = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(warmup));
    for (int n = 0; n < 3 || clock::now() < warm_end; n++) setup.run(op);
    std::vector<double> times;
    double spent = 0;
    while ((spent < budget || (int)times.size() < min_samples) && times.size() < 100000) {
        auto t0 = clock::now();
        setup.run(op);
        double dt = seconds(clock::now() - t0);
        spent += dt;
        times.push_back(dt * 1000.0);
    }
    std::ostringstream out;
    out.precision(6);
    out << std::fixed << "{\"times_ms\": [";
    for (size_t i = 0; i < times.size(); i++) out << (i ? ", " : "") << times[i];
    out << "], \"impl\": \"" << escape(setup.impl(op)) << "\"}";
    return out.str();
}

}  // namespace

int main() {
    std::ios::sync_with_stdio(false);
    const dnnl_version_t* v = dnnl_version();
    std::printf("{\"ready\": true, \"onednn\": \"%d.%d.%d\", \"hash\": \"%s\", \"isa\": \"%s\", \"cpu_runtime\": \"%s\", "
                "\"omp_max_threads\": %d}\n",
                v->major, v->minor, v->patch, v->hash, isa_name(get_effective_cpu_isa()),
                v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other",
                omp_get_max_threads());
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        std::string reply;
        try {
            reply = measure(line);
        } catch (const dnnl::error& e) {
            reply = std::string("{\"error\": \"oneDNN: ") + escape(e.what()) + "\"}";
        } catch (const std::exception& e) {
            reply = std::string("{\"error\": \"") + escape(e.what()) + "\"}";
        }
        std::printf("%s\n", reply.c_str());
        std::fflush(stdout);
    }
    return 0;
}
