// XEP-0398 (PEP to vCard): an avatar an account publishes over PEP (XEP-0084) becomes the PHOTO of its vcard-temp,
// so clients that only read vCards (XEP-0153) show it too. Runs inside the publish's storage job.
#include <spdlog/spdlog.h>

#include "protocol/pubsub.hpp"
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
