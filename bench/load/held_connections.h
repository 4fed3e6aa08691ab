// Hostile company for a latency run (accelsched-load latency --hold N): N connections that hold
// the server's attention without finishing a request, and a prober that times GET /healthz
// meanwhile. Half the held connections send nothing; the other half send a head that never ends,
// one header line per second (slowloris). Any connection the server closes (its head deadline)
// is opened again, so that N stay open for the whole run.
//
// Thread-safety: each object runs its own thread; the accessors may be read after Stop().
#ifndef ACCELSCHED_BENCH_LOAD_HELD_CONNECTIONS_H_
#define ACCELSCHED_BENCH_LOAD_HELD_CONNECTIONS_H_

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"

namespace accelsched::load {

// A connected TCP socket to host:port, or -1.
inline int ConnectTo(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

class HeldConnections {
 public:
  HeldConnections(std::string host, int port, int n) : host_(std::move(host)), port_(port) {
    slots_.resize(static_cast<size_t>(n), -1);
    for (size_t i = 0; i < slots_.size(); ++i) Open(i);
    thread_ = std::thread([this] { Keep(); });
  }
  HeldConnections(const HeldConnections&) = delete;
  HeldConnections& operator=(const HeldConnections&) = delete;
  ~HeldConnections() {
    Stop();
    for (int fd : slots_) {
      if (fd >= 0) close(fd);
    }
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int reopened() const { return reopened_; }
  int open() const {
    int n = 0;
    for (int fd : slots_) n += fd >= 0 ? 1 : 0;
    return n;
  }

 private:
  bool Slow(size_t i) const { return i % 2 == 1; }

  void Open(size_t i) {
    slots_[i] = ConnectTo(host_, port_);
    if (slots_[i] >= 0 && Slow(i)) {
      const std::string start = "POST /v1/extender/filter HTTP/1.1\r\nHost: held\r\n";
      send(slots_[i], start.data(), start.size(), MSG_NOSIGNAL);
    }
  }

  // Once a second: reopen what the server closed, trickle one more header line on the slow ones.
  void Keep() {
    int line = 0;
    while (!stop_) {
      for (int k = 0; k < 10 && !stop_; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      ++line;
      for (size_t i = 0; i < slots_.size(); ++i) {
        char byte = 0;
        const bool closed = slots_[i] < 0 ||
                            recv(slots_[i], &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0 ||
                            (errno != EAGAIN && errno != EWOULDBLOCK);
        if (closed) {  // EOF, an answer (408) or an error: the server let it go.
          if (slots_[i] >= 0) close(slots_[i]);
          Open(i);
          ++reopened_;
        } else if (Slow(i)) {
          const std::string more = "X-Held-" + std::to_string(line) + ": 1\r\n";
          send(slots_[i], more.data(), more.size(), MSG_NOSIGNAL);
        }
      }
    }
  }

  std::string host_;
  int port_;
  std::vector<int> slots_;  // Touched by the constructor, then only by the thread.
  std::atomic<bool> stop_{false};
  std::atomic<int> reopened_{0};
  std::thread thread_;
};

// GET /healthz every 10 ms on a keep-alive connection of its own; latencies in milliseconds.
class HealthProber {
 public:
  HealthProber(const std::string& host, int port) : client_(host, port) {
    client_.set_keep_alive(true);
    client_.set_read_timeout(10, 0);
    client_.set_connection_timeout(10, 0);
    thread_ = std::thread([this] { Probe(); });
  }
  HealthProber(const HealthProber&) = delete;
  HealthProber& operator=(const HealthProber&) = delete;
  ~HealthProber() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<double>& millis() const { return millis_; }
  int failures() const { return failures_; }

 private:
  void Probe() {
    while (!stop_) {
      const auto start = std::chrono::steady_clock::now();
      httplib::Result r = client_.Get("/healthz");
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (r && r->status == 200) {
        millis_.push_back(ms);
      } else {
        ++failures_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  httplib::Client client_;
  std::vector<double> millis_;  // Written by the thread; read after Stop().
  int failures_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace accelsched::load

#endif  // ACCELSCHED_BENCH_LOAD_HELD_CONNECTIONS_H_
