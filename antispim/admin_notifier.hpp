#pragma once
// Telling the admins: what the server decided on its own (automatic blocks, flagged or suspended accounts) goes
// to the log and, as a headline message from the server, to every JID in [server] admins — a running admin
// client shows it at once. A headline is not kept for an admin who is offline (RFC 6121 §8.5.2.1.1): the log, the
// admin page and /metrics are where such an admin finds it later.
#include <atomic>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "protocol/xep0082.hpp"

namespace hush {

class admin_notifier {
public:
    admin_notifier(std::string server_domain, std::vector<std::string> admins);

    // Logs at warning level and puts `text` for every admin into `out`.
    void notify(std::string subject, std::string text, outgoing& out);

    std::uint64_t sent() const { return sent_.load(); }

private:
    std::string server_domain_;
    std::vector<std::string> admins_;
    std::atomic<std::uint64_t> sent_{0};
};

}  // namespace hush
