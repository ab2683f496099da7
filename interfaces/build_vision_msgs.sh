#!/usr/bin/env bash
# Build interfaces/vision_msgs into a virtual env that has the ROS 2 PyPI wheels
# (ros-ament-cmake*, ros-rosidl-*). Used by `make setup` only when `import vision_msgs` fails;
# in a ROS 2 workspace install ros-<distro>-vision-msgs instead.
set -euo pipefail
venv=$(cd "${1:-.venv}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
export PATH="$venv/bin:$PATH"
echo "building vision_msgs into $venv (log: $build/build.log)"
if ! {
  cmake -S "$here/vision_msgs" -B "$build" -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF &&
    cmake --build "$build" -j"$(nproc)" &&
    cmake --install "$build"
} >"$build/build.log" 2>&1; then
  tail -40 "$build/build.log" >&2
  echo "vision_msgs build failed (see above)" >&2
  exit 1
fi
"$venv/bin/python" -c 'import vision_msgs.msg; print("vision_msgs ready")'
