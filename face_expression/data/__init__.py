"""Offline data tools: data set specs and label files, splitting, building, review sheets, face finder."""
