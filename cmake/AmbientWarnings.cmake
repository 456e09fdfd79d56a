# Compiler flags every target of the project gets: warnings as errors, and
# the sanitizers when AMBIENT_SANITIZE is on.
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
                    -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
                    -fno-common)
add_compile_definitions(_GNU_SOURCE)

if(AMBIENT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
