// Raw TCP clients for server tests: what well-behaved HTTP libraries never send (half a head, a
// body shorter than its Content-Length, two requests in one write, a silent connection).
//
//   RawConnection c(port);
//   c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
//   RawResponse r = c.ReadResponse();  // status 0 if none came within the timeout
//
// Thread-safety: one object per thread.
#ifndef ACCELSCHED_TESTS_TESTING_RAW_HTTP_H_
#define ACCELSCHED_TESTS_TESTING_RAW_HTTP_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace accelsched::testing {

struct RawResponse {
  int status = 0;  // 0: no (complete) answer before the timeout or the close.
  std::string head;
  std::string body;
  bool closed = false;  // The server closed the connection after it (or instead of one).
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:`port`; reads wait at most `timeout_ms`.
  explicit RawConnection(int port, int timeout_ms = 5000) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { close(fd_); }

  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) const {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // One response: the head, then Content-Length bytes of body. Bytes past it are kept for the
  // next call (pipelined answers).
  RawResponse ReadResponse() {
    RawResponse r;
    size_t head_end = std::string::npos;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(r)) return r;
    }
    r.head = buffer_.substr(0, head_end + 4);
    const size_t at = r.head.find("Content-Length: ");
    const size_t length =
        at == std::string::npos ? 0 : std::strtoul(r.head.c_str() + at + 16, nullptr, 10);
    while (buffer_.size() < head_end + 4 + length) {
      if (!Fill(r)) return r;
    }
    r.body = buffer_.substr(head_end + 4, length);
    buffer_.erase(0, head_end + 4 + length);
    r.status = std::atoi(r.head.c_str() + 9);  // "HTTP/1.1 200"
    return r;
  }

  // True if the server closed the connection (EOF) within the timeout, with nothing more sent.
  bool ClosedByServer() {
    RawResponse r;
    while (!r.closed) {
      if (!Fill(r)) return r.closed && buffer_.empty();
    }
    return buffer_.empty();
  }

 private:
  bool Fill(RawResponse& r) {
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) r.closed = true;  // FIN, or RST (unread data).
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

}  // namespace accelsched::testing

#endif  // ACCELSCHED_TESTS_TESTING_RAW_HTTP_H_
