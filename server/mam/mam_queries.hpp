#pragma once
// XEP-0313 iq requests to an account's own archive (urn:xmpp:mam:2): the query form (get), queries (set) answered
// with one <message><result/></message> per item to the asking resource and then the iq result with <fin/> and
// the XEP-0059 <set/>, and the archiving preferences (<prefs/> get and set). Only the account itself may ask:
// anyone else gets <forbidden/> (a stranger never gets here: the router answers <service-unavailable/> for every
// account alike, existing or not — antispim::answer_for_stranger_iq).
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "server/mam/archiver.hpp"
#include "storage/async_store.hpp"

namespace hush {

class mam_queries {
public:
    // `page_bytes`: a page stops early (not complete) once its results would take more than this — the asking
    // session's outbox is bounded, and a page of large messages must not overflow (and so close) it.
    // `archive`: written behind delivery, so a query waits for it first; told of preference changes.
    mam_queries(const mam_config& cfg, storage::async_store& store, archiver& archive, std::size_t page_bytes);

    // nullopt for an iq that is not XEP-0313's; the results go into `out`, before the returned answer.
    boost::asio::awaitable<std::optional<stanza>> handle_iq(const stanza& iq, const jid& addressed, outgoing& out);

    // XEP-0313 §6: a query of a room's archive (iq get: the form; set: the query), whose room already decided that
    // `requester` may read it. Results go to a local requester's session directly (`local_requester`), else routed.
    boost::asio::awaitable<stanza> room_query(const stanza& iq, const jid& room, const jid& requester,
                                              bool local_requester, outgoing& out);

    // JIDs an account may list in <always/>, and as many in <never/> (more: <not-acceptable/>).
    static constexpr std::size_t max_prefs_jids = 1000;

    // What an account's disco#info lists.
    static const std::vector<std::string>& account_features();

private:
    boost::asio::awaitable<stanza> query(const stanza& iq, pugi::xml_node element, const jid& account,
                                         const jid& requester, outgoing& out, bool direct = true);
    boost::asio::awaitable<stanza> prefs(const stanza& iq, pugi::xml_node element, const jid& account);

    const mam_config& cfg_;
    storage::async_store& store_;
    archiver& archive_;
    std::size_t page_bytes_;
};

}  // namespace hush
