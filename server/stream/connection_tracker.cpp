#include "server/stream/connection_tracker.hpp"

namespace hush {

std::string address_text(const boost::asio::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).to_string();
    }
    return address.to_string();
}

struct connection_tracker::slot {
    connection_tracker* owner;
    std::string address;
};

std::shared_ptr<void> connection_tracker::admit(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto& count = per_ip_[address];
    if (count >= max_per_ip_) {
        if (count == 0) {
            per_ip_.erase(address);
        }
        return nullptr;
    }
    ++count;
    ++total_;
    auto* raw = new slot{this, address};
    sessions_.emplace(raw, std::weak_ptr<session>{});
    return std::shared_ptr<void>(raw, [](void* p) {
        auto* s = static_cast<slot*>(p);
        s->owner->release(s);
        delete s;
    });
}

void connection_tracker::attach(const std::shared_ptr<void>& handle, std::weak_ptr<session> s) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(static_cast<slot*>(handle.get()));
    if (it != sessions_.end()) {
        it->second = std::move(s);
    }
}

void connection_tracker::release(slot* s) {
    std::function<void()> callback;
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(s);
        auto it = per_ip_.find(s->address);
        if (it != per_ip_.end() && --it->second == 0) {
            per_ip_.erase(it);
        }
        if (--total_ == 0) {
            callback = on_empty_;
        }
    }
    if (callback) {
        callback();
    }
}

std::vector<std::shared_ptr<session>> connection_tracker::all() const {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lock(mutex_);
    for (const auto& [slot, weak] : sessions_) {
        if (auto s = weak.lock()) {
            out.push_back(std::move(s));
        }
    }
    return out;
}

std::size_t connection_tracker::size() const {
    std::lock_guard lock(mutex_);
    return total_;
}

void connection_tracker::on_empty(std::function<void()> callback) {
    std::lock_guard lock(mutex_);
    on_empty_ = std::move(callback);
}

}  // namespace hush
