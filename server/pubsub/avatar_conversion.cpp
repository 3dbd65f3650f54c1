// XEP-0398: an avatar an account publishes over PEP (XEP-0084) becomes the PHOTO of its vcard-temp, so clients that
// only read vCards (XEP-0153) show it too (inside the publish's storage job); and a photo an old client puts in the
// vCard is published as the PEP avatar, so modern clients show it.
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "protocol/pubsub.hpp"
#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"
#include "server/pubsub/pubsub_job.hpp"

namespace hush::pubsub_detail {

namespace {

constexpr std::size_t max_vcard_bytes = 64 * 1024;  // as account_services accepts from clients

}  // namespace

storage::result<void> avatar_to_vcard(storage::store& s, const pubsub_host& host,
                                      const storage::pubsub_item_record& metadata, std::size_t max_items_limit) {
    pugi::xml_document meta;
    if (!meta.load_buffer(metadata.payload.data(), metadata.payload.size())) {
        return {};
    }
    // A vCard is anyone's to read (vcard-temp has no access model): only an avatar anyone may see goes there.
    for (const char* node : {"urn:xmpp:avatar:metadata", "urn:xmpp:avatar:data"}) {
        auto n = load_node(s, host.key, node, false, max_items_limit);
        if (!n) {
            return hush::unexpected(n.error());
        }
        if (!*n || (*n)->config.access != pubsub::access_model::open) {
            return {};
        }
    }
    const bool switched_off = !meta.first_child().child("info");
    // The first image that is in the data node (one with a url lives elsewhere); none: the avatar was switched off.
    std::string type;
    std::string data;
    for (auto info : meta.first_child().children("info")) {
        if (info.attribute("url")) {
            continue;
        }
        auto item = s.get_pubsub_items(host.key, "urn:xmpp:avatar:data", {info.attribute("id").value()}, 0);
        if (!item) {
            return hush::unexpected(item.error());
        }
        if (item->empty()) {
            continue;
        }
        pugi::xml_document payload;
        if (payload.load_buffer(item->front().payload.data(), item->front().payload.size())) {
            type = info.attribute("type").value();
            data = payload.first_child().child_value();
            break;
        }
    }
    if (data.empty() && !switched_off) {
        return {};  // an avatar that is not in the data node (a URL): the vCard keeps what it has
    }
    auto stored = s.get_document(host.account.domain(), host.account.node(), "vcard");
    if (!stored) {
        return hush::unexpected(stored.error());
    }
    pugi::xml_document vcard;
    const unsigned options = pugi::parse_default | pugi::parse_ws_pcdata;  // as account_services keeps vCards
    if (!*stored || !vcard.load_buffer((*stored)->data(), (*stored)->size(), options) || !vcard.first_child()) {
        vcard.reset();
        vcard.append_child("vCard").append_attribute("xmlns").set_value("vcard-temp");
    }
    auto card = vcard.first_child();
    while (auto old = card.child("PHOTO")) {
        card.remove_child(old);
    }
    if (!data.empty()) {
        auto photo = card.append_child("PHOTO");
        photo.append_child("TYPE").append_child(pugi::node_pcdata).set_value(type.c_str());
        photo.append_child("BINVAL").append_child(pugi::node_pcdata).set_value(data.c_str());
    }
    std::string xml = pubsub::serialize_element(card);
    if (xml.size() > max_vcard_bytes) {
        spdlog::info("pubsub: {}'s avatar is too large for its vCard; the vCard keeps no photo", host.key);
        card.remove_child("PHOTO");
        xml = pubsub::serialize_element(card);
    }
    return s.put_document(host.account.domain(), host.account.node(), "vcard", xml);
}

}  // namespace hush::pubsub_detail

namespace hush {

using namespace pubsub_detail;

namespace {

std::string sha1_hex(std::string_view bytes) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : digest) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

// A node the conversion publishes to, made if missing: as PEP makes it, but open — the photo was in a vCard,
// which anyone may read. An existing node keeps its configuration.
storage::result<loaded_node> avatar_node(storage::store& s, const pubsub_host& host, const std::string& node,
                                         std::size_t limit, std::int64_t now_s) {
    auto n = load_node(s, host.key, node, true, limit);
    if (!n) {
        return hush::unexpected(n.error());
    }
    if (*n) {
        return std::move(**n);
    }
    pubsub::node_config config = pubsub::pep_defaults(limit);
    config.access = pubsub::access_model::open;
    storage::pubsub_node_record record{host.key, node, pubsub::serialize_config(config), host.key, now_s};
    auto created = s.create_pubsub_node(record);
    if (!created || !*created) {
        return hush::unexpected(created ? storage::error{"avatar node unreadable"} : created.error());
    }
    return loaded_node{std::move(record), std::move(config)};
}

}  // namespace

boost::asio::awaitable<void> pubsub_engine::vcard_photo_to_avatar(const stanza& vcard_set, const jid& account,
                                                                  outgoing& out) {
    const auto photo = vcard_set.child("vCard", "vcard-temp").child("PHOTO");
    const std::string type = photo.child_value("TYPE");
    std::string encoded;
    for (const char c : std::string_view(photo.child_value("BINVAL"))) {
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            encoded += c;  // vCards fold BINVAL over lines
        }
    }
    const auto bytes = sasl::base64_decode(encoded);
    if (!options_.enabled || !account.has_node() || encoded.empty() || !bytes || bytes->empty() ||
        encoded.size() > options_.max_payload_bytes) {
        co_return;  // no photo (or none that can be an avatar): the PEP avatar stays as it is
    }
    const pubsub_host host = host_for(account);
    const std::string id = sha1_hex(*bytes);
    const std::size_t limit = options_.max_items_per_node;
    const std::int64_t now = unix_now_us();
    const std::string data = "<data xmlns='urn:xmpp:avatar:data'>" + encoded + "</data>";
    const std::string meta = "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='" +
                             std::to_string(bytes->size()) + "' id='" + id + "' type='" +
                             xml_escape(type.empty() ? "image/png" : type) + "'/></metadata>";
    auto decided = co_await store_.run([&](storage::store& s) -> storage::result<std::vector<pending_event>> {
        return storage::atomically(s, account.domain(), account.node(),
                                   [&]() -> storage::result<std::vector<pending_event>> {
            std::vector<pending_event> events;
            auto last = s.get_pubsub_items(host.key, "urn:xmpp:avatar:metadata", {id}, 0);
            if (!last) {
                return hush::unexpected(last.error());
            }
            if (!last->empty()) {
                return events;  // already the avatar: a vCard saved again changes nothing
            }
            for (const auto& [node, payload] : {std::pair<std::string, std::string>{"urn:xmpp:avatar:data", data},
                                                std::pair<std::string, std::string>{"urn:xmpp:avatar:metadata", meta}}) {
                auto n = avatar_node(s, host, node, limit, now / 1000000);
                if (!n) {
                    return hush::unexpected(n.error());
                }
                storage::pubsub_item_record item{id, host.key, payload, now};
                if (auto put = s.put_pubsub_item(host.key, node, item); !put) {
                    return hush::unexpected(put.error());
                }
                if (auto trimmed = s.trim_pubsub_items(host.key, node, n->config.max_items); !trimmed) {
                    return hush::unexpected(trimmed.error());
                }
                auto to = recipients(s, host, *n);
                if (!to) {
                    return hush::unexpected(to.error());
                }
                events.push_back(pending_event{event_kind::items, std::move(*to),
                                               {{id, publisher_of(item, *n, true), payload}}, {}});
            }
            return events;
        });
    });
    if (!decided) {
        spdlog::error("pubsub: {}'s vCard photo as its avatar: {}", host.key, decided.error().message);
        co_return;
    }
    for (const auto& e : *decided) {
        notify(host, e, out);
    }
}

}  // namespace hush
