// The simulated Plasticore board: the Verilated top level (rtl/top.py) with its UART pins wired to
// a pseudo-terminal. Bytes the host writes to the terminal are shifted into the `rx` pin bit by
// bit at the RTL's own divisor; the `tx` pin is sampled at mid-bit and complete bytes go back to
// the terminal. The host code path is the one of a real board (host/simboard.py spawns this).
//
// usage: plasticore-board <pty master fd> <clocks per bit> [<stats file>]
// Runs until the terminal's other side is closed (EIO/HUP) or SIGTERM. Sleeps in poll() when the
// core waits for a request and both lines have been quiet for two byte times, so an idle board
// costs no CPU. The stats file gets one line: "cycles <n> bytes_in <n> bytes_out <n> seconds <s>".
#include "Vtop.h"
#include "verilated.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <poll.h>
#include <unistd.h>
#include <vector>

// Vtop::eval() wraps the model's evaluation in bookkeeping for deferred deletes and messages from
// other threads, which this single-threaded model without classes never has: about 150
// instructions a call, twice a clock, 7 % of a clock's work. After the first (initialising) eval
// the loop calls the evaluation itself when this Verilator has it (a weak reference: null, and
// plain eval(), otherwise).
void Vtop___024root___eval(Vtop___024root*) __attribute__((weak));

static volatile std::sig_atomic_t stop_requested = 0;
static void on_signal(int) { stop_requested = 1; }

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <pty master fd> <clocks per bit> [stats file]\n", argv[0]);
        return 2;
    }
    const int fd = std::atoi(argv[1]);
    const long divisor = std::atol(argv[2]);
    const char* stats_path = argc > 3 ? argv[3] : nullptr;
    if (divisor < 4) {
        std::fprintf(stderr, "plasticore-board: clocks per bit must be >= 4, not %ld\n", divisor);
        return 2;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vtop>(context.get());
    top->clk = 0;
    top->rx = 1;
    top->eval();
    Vtop___024root* const root = top->rootp;
    void (*const evaluate)(Vtop___024root*) = Vtop___024root___eval;
    auto tick = [&]() {
        top->clk = 0;
        if (evaluate) evaluate(root); else top->eval();
        top->clk = 1;
        if (evaluate) evaluate(root); else top->eval();
    };
    for (int i = 0; i < 4; i++) tick();          // the wrapper's power-on reset (simboard.py)

    std::deque<uint8_t> inbox;          // host -> board, waiting for the rx serialiser
    std::vector<uint8_t> outbox;        // board -> host, waiting for write()
    int rx_bit = -1;                    // bit being driven on rx (0 start, 1..8 data, 9 stop)
    long rx_clocks = 0;
    uint16_t rx_frame = 0;
    int tx_bit = -1;                    // bit expected next on tx, -1 when the line is idle
    uint64_t tx_sample_at = 0;
    uint8_t tx_byte = 0;
    uint64_t cycles = 0, quiet = 0, bytes_in = 0, bytes_out = 0, framing = 0;
    bool host_gone = false;
    uint8_t chunk[4096];
    const auto started = std::chrono::steady_clock::now();

    auto flush = [&]() {
        size_t done = 0;
        while (done < outbox.size()) {
            ssize_t n = write(fd, outbox.data() + done, outbox.size() - done);
            if (n > 0) {
                done += n;
            } else if (n < 0 && errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                poll(&p, 1, 100);
            } else {
                host_gone = true;
                break;
            }
        }
        outbox.clear();
    };
    auto receive = [&](int timeout_ms) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return;
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            inbox.insert(inbox.end(), chunk, chunk + n);
            bytes_in += n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            host_gone = true;           // EIO: the terminal's other side was closed
        }
    };

    while (!stop_requested && !host_gone) {
        if (rx_bit < 0) {
            if (inbox.empty() && (cycles & 255) == 0) receive(0);
            if (!inbox.empty()) {
                rx_frame = (uint16_t)((inbox.front() << 1) | 0x200);     // start 0, data, stop 1
                inbox.pop_front();
                rx_bit = 0;
                rx_clocks = 0;
            }
        }
        top->rx = rx_bit < 0 ? 1 : (rx_frame >> rx_bit) & 1;
        tick();
        cycles++;
        if (rx_bit >= 0 && ++rx_clocks == divisor) {
            rx_clocks = 0;
            if (++rx_bit == 10) rx_bit = -1;
        }

        if (tx_bit < 0) {
            if (!top->tx) {                                  // start bit: sample mid-bit from here
                tx_bit = 0;
                tx_byte = 0;
                tx_sample_at = cycles + divisor + divisor / 2;
            }
        } else if (cycles == tx_sample_at) {
            if (tx_bit < 8) {
                tx_byte |= (uint8_t)(top->tx << tx_bit);
                tx_bit++;
                tx_sample_at += divisor;
            } else {
                if (top->tx) {
                    outbox.push_back(tx_byte);
                    bytes_out++;
                    if (tx_byte == 0 || outbox.size() >= 1024) flush();     // 0x00 ends a frame
                } else {
                    framing++;
                }
                tx_bit = -1;
            }
        }

        if (rx_bit < 0 && inbox.empty() && tx_bit < 0 && top->idle) {
            if (++quiet > (uint64_t)(20 * divisor)) {
                flush();
                receive(-1);                                 // sleep until the host sends
                quiet = 0;
            }
        } else {
            quiet = 0;
        }
    }
    flush();
    if (stats_path) {
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (FILE* f = std::fopen(stats_path, "w")) {
            std::fprintf(f, "cycles %llu bytes_in %llu bytes_out %llu tx_framing %llu seconds %.6f\n",
                         (unsigned long long)cycles, (unsigned long long)bytes_in,
                         (unsigned long long)bytes_out, (unsigned long long)framing, seconds);
            std::fclose(f);
        }
    }
    top->final();
    return 0;
}
