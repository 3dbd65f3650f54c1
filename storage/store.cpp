#include "storage/store.hpp"

#include <stdexcept>

#include "storage/postgres_driver.hpp"
#include "storage/sql_store.hpp"
#include "storage/sqlite_driver.hpp"

namespace hush::storage {

std::unique_ptr<store> open_store(const store_options& options, open_mode mode) {
    switch (options.backend) {
    case store_options::backend_kind::sqlite:
        return std::make_unique<sql_store>(std::make_unique<sqlite_driver>(options.sqlite_path, mode == open_mode::read_only));
    case store_options::backend_kind::postgresql:
        return std::make_unique<sql_store>(std::make_unique<postgres_driver>(options.postgres_url));
    }
    throw std::runtime_error("unknown storage backend");
}

}  // namespace hush::storage
