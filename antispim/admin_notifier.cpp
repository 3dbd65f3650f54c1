#include "antispim/admin_notifier.hpp"

#include <spdlog/spdlog.h>

#include "protocol/stanza.hpp"

namespace hush {

admin_notifier::admin_notifier(std::string server_domain, std::vector<std::string> admins)
    : server_domain_(std::move(server_domain)), admins_(std::move(admins)) {}

void admin_notifier::notify(std::string subject, std::string text, outgoing& out) {
    spdlog::warn("admins: {}: {}", subject, text);
    for (const auto& admin : admins_) {
        stanza notice = stanza::make("message");
        notice.set_attribute("type", "headline");
        notice.set_attribute("from", server_domain_);
        notice.set_attribute("to", admin);
        notice.element().append_child("subject").text().set(("Hush: " + subject).c_str());
        notice.element().append_child("body").text().set(text.c_str());
        out.unfiltered(std::move(notice));
        sent_.fetch_add(1);
    }
}

}  // namespace hush
