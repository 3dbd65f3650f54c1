#pragma once
// Per-account iq services the server answers itself, on the account's behalf:
//   XEP-0054 vcard-temp        (get: anyone, of any local account; set: the owner only)
//   XEP-0049 private storage   (get/set: the owner only)
//   XEP-0012 last activity     (to the server: uptime; to an account: 0 when online, else time since logout)
// Documents live in storage (get_document/put_document); every storage call runs off the event loop.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "storage/async_store.hpp"

namespace hush {

class account_services {
public:
    // Is at least one resource of this account available? Called on the event loop; must not block.
    using online_check = std::function<bool(const jid& bare)>;
    // May `requester` see the presence of local `account` (subscription from/both, or the account itself)?
    using presence_permission = std::function<boost::asio::awaitable<bool>(const jid& account, const jid& requester)>;

    static constexpr std::string_view vcard_ns = "vcard-temp";
    static constexpr std::string_view private_ns = "jabber:iq:private";
    static constexpr std::string_view last_ns = "jabber:iq:last";
    // Largest serialized <vCard/> accepted; larger ones get <not-acceptable/>.
    static constexpr std::size_t max_vcard_bytes = 64 * 1024;

    account_services(storage::async_store& store, online_check is_online, presence_permission may_see_presence,
                     std::chrono::steady_clock::time_point started);

    // `iq` is a validated request (type get or set, one payload) whose `from` is the stamped full JID of a local
    // user; `addressed` is the server domain or an existing local account's bare JID (as iq_handler::handle).
    // Returns nullopt when the payload is none of ours (or the iq is not a get/set), else the result or error.
    // jabber:iq:last to an account is answered only to those who may see its presence (XEP-0012 §3); others
    // get <forbidden/>.
    boost::asio::awaitable<std::optional<stanza>> handle(const stanza& iq, const jid& addressed);

    // The namespaces served, for disco#info (all three belong in the server's features; jabber:iq:last and
    // vcard-temp also in an account's).
    static const std::vector<std::string>& features();

private:
    boost::asio::awaitable<stanza> vcard(const stanza& iq, const jid& requester, const jid& addressed,
                                         pugi::xml_node payload);
    boost::asio::awaitable<stanza> private_storage(const stanza& iq, const jid& requester, const jid& addressed,
                                                   pugi::xml_node payload);
    boost::asio::awaitable<stanza> last_activity(const stanza& iq, const jid& addressed);

    storage::async_store& store_;
    online_check is_online_;
    presence_permission may_see_presence_;
    std::chrono::steady_clock::time_point started_;
};

}  // namespace hush
