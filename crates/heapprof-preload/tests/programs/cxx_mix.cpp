// A C++ program: containers, strings, threads, thread_local objects whose
// destructors allocate, aligned new, exceptions. It replaces the global
// operator new/delete to count what it asks for; every counted block goes
// through app_counted_new (never inlined), so the test can find them.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

static std::atomic<long> allocs{0}, bytes{0};

extern "C" __attribute__((noinline)) void *app_counted_new(std::size_t n, std::size_t align) {
    allocs.fetch_add(1);
    bytes.fetch_add((long)n);
    void *p = align > 16 ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void *operator new(std::size_t n) { return app_counted_new(n, 0); }
void *operator new[](std::size_t n) { return app_counted_new(n, 0); }
void *operator new(std::size_t n, std::align_val_t a) { return app_counted_new(n, (std::size_t)a); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace app {
struct alignas(256) Aligned {
    char data[1000];
};

struct OnExit {
    std::string name = "thread-local state that outlives the thread body";
    ~OnExit() {
        std::string farewell = name + " is going away, allocating once more";
        std::vector<int> v(100, 1);
    }
};
thread_local OnExit on_exit;

class Widget {
  public:
    static std::vector<std::string> build(int n) {
        std::vector<std::string> out;
        for (int i = 0; i < n; i++) out.push_back(std::string(20 + i % 50, 'x') + std::to_string(i));
        return out;
    }
};

__attribute__((noinline)) long churn(int seed) {
    std::map<int, std::string> m;
    std::unordered_map<std::string, std::vector<double>> u;
    for (int i = 0; i < 2000; i++) {
        m[i * seed] = std::to_string(i) + std::string(40, 'y');
        u[std::to_string(i % 300)].push_back(i);
    }
    try {
        throw std::runtime_error(std::string(100, 'e'));
    } catch (const std::exception &e) {
        return (long)m.size() + (long)u.size() + (long)std::string(e.what()).size();
    }
}
}  // namespace app

int main() {
    std::vector<std::thread> threads;
    std::vector<std::vector<std::string>> results(4);
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &results] {
            app::on_exit.name += std::to_string(t);
            results[t] = app::Widget::build(3000);
            app::churn(t + 1);
        });
    for (auto &t : threads) t.join();
    results.clear();  // blocks made on other threads, freed here
    auto *aligned = new app::Aligned[3];
    delete[] aligned;
    long r = app::churn(7);
    std::printf("COUNTS allocs=%ld bytes=%ld r=%ld\n", allocs.load(), bytes.load(), r);
    std::fflush(stdout);
    return 0;
}
