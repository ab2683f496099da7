#!/usr/bin/env bash
# Build our interface packages (interfaces/<name>: vision_msgs, hri_msgs) into a virtual env that
# has the ROS 2 PyPI wheels (ros-ament-cmake*, ros-rosidl-*):
#
#     bash interfaces/build_interfaces.sh VENV PACKAGE [PACKAGE...]
#
# Used by `make setup` only for a package whose `import <name>.msg` fails; in a ROS 2 workspace
# install ros-<distro>-vision-msgs / ros-<distro>-hri-msgs instead.
set -euo pipefail
venv=$(cd "${1:-.venv}" && pwd)
shift || true
[ "$#" -gt 0 ] || set -- vision_msgs
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$venv/bin:$PATH"
for pkg in "$@"; do
  [ -f "$here/$pkg/package.xml" ] || { echo "no interface package $here/$pkg" >&2; exit 2; }
  build=$(mktemp -d)
  echo "building $pkg into $venv (log: $build/build.log)"
  if ! {
    cmake -S "$here/$pkg" -B "$build" -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
      -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF &&
      cmake --build "$build" -j"$(nproc)" &&
      cmake --install "$build"
  } >"$build/build.log" 2>&1; then
    tail -40 "$build/build.log" >&2
    echo "$pkg build failed (see above)" >&2
    rm -rf "$build"
    exit 1
  fi
  rm -rf "$build"
  "$venv/bin/python" -c "import $pkg.msg; print('$pkg ready')"
done
