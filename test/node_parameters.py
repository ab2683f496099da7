"""Parameter tables shared by the config and launch tests: ours from the nodes, usb_cam's by hand."""

from __future__ import annotations

#: usb_cam 0.8.x: parameter -> type of its declared default (node name usb_cam).
USB_CAM_PARAMETERS: dict[str, type] = {
    "camera_name": str,
    "camera_info_url": str,
    "framerate": float,
    "frame_id": str,
    "image_height": int,
    "image_width": int,
    "io_method": str,
    "pixel_format": str,
    "av_device_format": str,
    "video_device": str,
    "brightness": int,
    "contrast": int,
    "saturation": int,
    "sharpness": int,
    "gain": int,
    "auto_white_balance": bool,
    "white_balance": int,
    "autoexposure": bool,
    "exposure": int,
    "autofocus": bool,
    "focus": int,
}
#: usb_cam pixel formats whose image_raw is rgb8, the encoding the detector reads without a swap.
USB_CAM_RGB8_FORMATS = ("rgb8", "yuyv2rgb", "uyvy2rgb", "mjpeg2rgb", "m4202rgb")


def declared_types(parameters: dict[str, tuple[object, str, dict]]) -> dict[str, type]:
    """Parameter -> Python type, from a node's PARAMETERS table (the declared defaults)."""
    return {name: type(default) for name, (default, _, _) in parameters.items()}
