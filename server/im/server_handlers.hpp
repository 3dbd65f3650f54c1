#pragma once
// The server's own iq answers: XEP-0199 ping, XEP-0030 disco#info/#items for the server and for accounts,
// XEP-0092 version. Everything else is <service-unavailable/>.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/im/iq_handler.hpp"

namespace hush {

class server_handlers final : public iq_handler {
public:
    // A handler for some namespaces: returns nullopt for an iq that is not its business.
    using handler = std::function<boost::asio::awaitable<std::optional<stanza>>(const stanza&, const jid&, outgoing&)>;
    struct extension {
        handler handle;
        std::vector<std::string> server_features;   // join the server's disco#info
        std::vector<std::string> account_features;  // join every account's disco#info
        // "category/type" identities joining every account's disco#info (XEP-0163: pubsub/pep).
        std::vector<std::string> account_identities = {};
    };

    // Extensions are asked in this order, before the built-in answers.
    server_handlers(std::string version, std::vector<extension> extensions);

    // XEP-0115 verification string of the server's disco#info, for the caps element in stream features.
    std::string caps_ver() const;
    static constexpr std::string_view caps_node_prefix = "https://hush.invalid/caps";
    boost::asio::awaitable<stanza> handle(const stanza& iq, const jid& addressed, outgoing& out) override;

    // Features listed in disco#info (built-in plus extensions), sorted; docs/features.md follows them.
    std::vector<std::string> server_features() const;
    std::vector<std::string> account_features() const;

private:
    stanza disco_info(const stanza& iq, const jid& addressed, pugi::xml_node query) const;
    std::string version_;
    std::vector<handler> extensions_;
    std::vector<std::string> extra_server_features_;
    std::vector<std::string> extra_account_features_;
    std::vector<std::string> extra_account_identities_;
};

}  // namespace hush
