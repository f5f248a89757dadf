//! The Vixens provider: its configuration and its resources, registered.
