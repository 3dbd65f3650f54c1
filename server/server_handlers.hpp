#pragma once
// The server's own iq answers: XEP-0199 ping, XEP-0030 disco#info/#items for the server and for accounts,
// XEP-0092 version. Everything else is <service-unavailable/>.
#include <string>
#include <vector>

#include "server/router.hpp"

namespace hush {

class server_handlers final : public iq_handler {
public:
    explicit server_handlers(std::string version);
    boost::asio::awaitable<stanza> handle(const stanza& iq, const jid& addressed) override;

    // Features listed in disco#info; kept here so disco and docs/features.md stay in step.
    static const std::vector<std::string>& server_features();
    static const std::vector<std::string>& account_features();

private:
    stanza disco_info(const stanza& iq, const jid& addressed, pugi::xml_node query) const;
    std::string version_;
};

}  // namespace hush
